/*
 * The floor of an exec: fork + execve + waitpid of /bin/true, N times, in one process. Run on the
 * host it is the host's floor; run inside a sandbox it is that sandbox's (gVisor's sentry pays for
 * every fork and exec). Prints the microseconds of each iteration, one per line, for the bench to
 * summarize next to its other rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	const char *prog = argc > 2 ? argv[2] : "/bin/true";
	double *us = calloc((size_t)n, sizeof *us);
	if (n <= 0 || !us)
		return 2;
	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		pid_t pid = fork();
		if (pid == 0) {
			execl(prog, prog, (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, NULL, 0) < 0)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &b);
		us[i] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
	}
	for (int i = 0; i < n; i++)
		printf("%.1f\n", us[i]);
	free(us);
	return 0;
}
