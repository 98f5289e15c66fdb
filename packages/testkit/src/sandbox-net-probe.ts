/**
 * @module sandbox-net-probe
 * The network probe that runs *inside* a real sandbox (python3, which every runtime's default image
 * has): resolves names and opens connections as listed, and prints what it saw as JSON. Like
 * net-probe.ts, its report is never the verdict; the rig's logs are.
 */
export const SANDBOX_NET_PROBE = String.raw`
import json, socket, sys
out = []
for op in json.loads(sys.argv[1]):
    r = {}
    try:
        if op['op'] == 'resolve':
            r['addresses'] = sorted({a[4][0] for a in socket.getaddrinfo(op['name'], 80, socket.AF_INET, socket.SOCK_STREAM)})
        elif op['op'] == 'tcp':
            s = socket.create_connection((op['host'], op['port']), timeout=3)
            s.sendall(op.get('send', 'hello\n').encode())
            s.settimeout(2)
            try:
                r['reply'] = s.recv(200).decode('latin1')
            except Exception as e:
                r['reply'] = None
            s.close()
        elif op['op'] == 'udp':
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            s.sendto(b'hello', (op['host'], op['port']))
            try:
                r['reply'] = s.recv(200).decode('latin1')
            except Exception:
                r['reply'] = None
    except Exception as e:
        r['error'] = type(e).__name__ + ': ' + str(e)
    out.append(r)
print(json.dumps(out))
`;

export function probeCommand(ops: object[]): string[] {
  return ['python3', '-c', SANDBOX_NET_PROBE, JSON.stringify(ops)];
}
