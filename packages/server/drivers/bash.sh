# The Airlock bash driver: one long-lived bash per code context. The bootstrap (in argv) read the
# first line of stdin into __airlock_nonce and this source (base64), and evaluates it. Commands are
# lines "CELL BASE64-CODE" on a private copy of stdin (fd 0 becomes /dev/null); the user's output
# goes to fds 1 and 2; frames (see python.py) go to a private copy of fd 1. Variables, functions
# and the cwd persist from cell to cell, since every cell is evaluated by this same shell.
exec 7<&0 0</dev/null 8>&1 9>&2
__airlock_seq=0
__airlock_err_seq=0
__airlock_count=0
__airlock_send() {
	__airlock_seq=$((__airlock_seq + 1))
	# A cell that closed the frame fd leaves nothing to speak on: end, and the host says so at once.
	printf '\036%s %d 0 %s\n' "$__airlock_nonce" "$__airlock_seq" "$1" >&8 || exit 71
}
# An interrupt stops the running command (it is in the same process group); the shell goes on.
trap ':' INT
__airlock_send '{"type":"ready","language":"bash","version":"'"${BASH_VERSION%%[^0-9.]*}"'","pid":'"$$"'}'
while IFS=' ' read -r -u 7 __airlock_cell __airlock_b64; do
	__airlock_code=$(printf %s "$__airlock_b64" | base64 -d)
	__airlock_count=$((__airlock_count + 1))
	eval "$__airlock_code"
	__airlock_status=$?
	# A cell may have closed or redirected its stdout or stderr: the next one gets them back.
	exec 1>&8 2>&9 || exit 71
	# The fence: stderr (another pipe) holds all of the cell's output.
	__airlock_err_seq=$((__airlock_err_seq + 1))
	printf '\036%s %d 0 {"type":"fence","cell":"%s"}\n' "$__airlock_nonce" "$__airlock_err_seq" "$__airlock_cell" >&9
	if [ "$__airlock_status" -eq 0 ]; then
		__airlock_send '{"type":"end","cell":"'"$__airlock_cell"'","executionCount":'"$__airlock_count"'}'
	else
		__airlock_send '{"type":"end","cell":"'"$__airlock_cell"'","executionCount":'"$__airlock_count"',"error":{"name":"ExitCode","value":"'"$__airlock_status"'","traceback":""}}'
	fi
done
