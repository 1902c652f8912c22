// berthd's command line: `berthd [-H ADDR]... [--root DIR] [--exec-root DIR]
// [--storage-driver NAME] [--bridge NAME] [--bip CIDR] [--iptables=false]
// [--dns IP]... [--log-level LEVEL] [--pidfile PATH] [--userns-remap USER[:GROUP]]
// [--subuid-file PATH] [--subgid-file PATH]`, parsed into the daemon's configuration.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { invalidArgument } from '../errdefs/errors.js';
import { parseLogLevel, type LogLevel } from '../trace/logger.js';
import { parseRemapFlag } from '../container/userns-remap.js';
import { DEFAULT_SOCKET, parseListenAddress, type ListenAddress } from './listeners.js';

export interface DaemonFlags {
  hosts: ListenAddress[];
  root: string;
  execRoot: string;
  /** Undefined: overlay2 where the kernel offers it, else vfs. */
  storageDriver: string | undefined;
  /** The default network's bridge name. */
  bridge: string;
  /** The bridge's address and subnet, `172.17.0.1/16` style; undefined lets the networkdriver pick a free one. */
  bip: string | undefined;
  /** false: berth writes no iptables rule; published ports go through the userland proxy. */
  iptables: boolean;
  /** Name servers for containers without their own (default: the host's). */
  dns: string[] | undefined;
  logLevel: LogLevel;
  pidfile: string | undefined;
  /** `--userns-remap` as given (`default`, `name|uid[:group|gid]`); undefined: no remap. */
  usernsRemap: string | undefined;
  /** Where the subordinate ranges are read (default /etc/subuid and /etc/subgid). */
  subuidFile: string;
  subgidFile: string;
}

export const usage = `usage: berthd [OPTIONS]
  -H, --host ADDR         listen address, repeatable: unix:///PATH (default unix://${DEFAULT_SOCKET})
                          or tcp://127.0.0.1:PORT (loopback only)
  --root DIR              persistent state: images, layers, containers (default /var/lib/berth)
  --exec-root DIR         runtime state: the pid file (default /run/berth)
  --storage-driver NAME   overlay2, vfs or btrfs (default overlay2 where available, else vfs)
  --bridge NAME           the default network's bridge (default berth0)
  --bip CIDR              the bridge's address with prefix, e.g. 172.31.0.1/24 (default 10.213.0.1/16)
  --iptables=BOOL         write iptables rules (NAT, forwarding, published ports; default true);
                          false: none, and published ports are served by the userland proxy
  --dns IP                a name server for containers' resolv.conf, repeatable (default the host's)
  --log-level LEVEL       debug|info|warn|error (default info)
  --pidfile PATH          write the daemon's pid there (default EXEC_ROOT/berthd.pid)
  --userns-remap USER[:GROUP]
                          run every container in a user namespace: container root is the first id of
                          USER's first range in the subuid file (GROUP's in the subgid file); names or
                          ids; "default" is berthremap:berthremap, whose entries must exist
  --subuid-file PATH      read subordinate uid ranges there (default /etc/subuid; for tests and
  --subgid-file PATH      alternate roots, as is --subgid-file, default /etc/subgid)
  -h, --help              this text`;

const BRIDGE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;

/** Parses berthd's arguments. Throws INVALID_ARGUMENT naming the flag on bad input. */
export function parseDaemonFlags(argv: readonly string[]): DaemonFlags | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      // `--iptables` alone means true, as in Docker's flag grammar
      args: argv.map((a) => (a === '--iptables' ? '--iptables=true' : a)),
      options: {
        host: { type: 'string', short: 'H', multiple: true },
        root: { type: 'string', default: '/var/lib/berth' },
        'exec-root': { type: 'string', default: '/run/berth' },
        'storage-driver': { type: 'string', short: 's' },
        bridge: { type: 'string', short: 'b', default: 'berth0' },
        bip: { type: 'string' },
        iptables: { type: 'string', default: 'true' },
        dns: { type: 'string', multiple: true },
        'log-level': { type: 'string', short: 'l', default: 'info' },
        pidfile: { type: 'string', short: 'p' },
        'userns-remap': { type: 'string' },
        'subuid-file': { type: 'string', default: '/etc/subuid' },
        'subgid-file': { type: 'string', default: '/etc/subgid' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw invalidArgument(`berthd: ${(err as Error).message}`);
  }
  if (values.help) return 'help';
  const hosts = (values.host ?? [`unix://${DEFAULT_SOCKET}`]).map(parseListenAddress);
  if (!BRIDGE_NAME.test(values.bridge))
    throw invalidArgument(
      `--bridge ${JSON.stringify(values.bridge)}: not a valid interface name (1-15 of [a-zA-Z0-9_.-])`,
    );
  if (values.bip !== undefined && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(values.bip)) {
    throw invalidArgument(
      `--bip ${JSON.stringify(values.bip)}: expected an IPv4 address with prefix length, e.g. 172.31.0.1/24`,
    );
  }
  if (values.iptables !== 'true' && values.iptables !== 'false')
    throw invalidArgument(`--iptables ${JSON.stringify(values.iptables)}: expected true or false`);
  for (const d of values.dns ?? [])
    if (isIP(d) === 0) throw invalidArgument(`--dns ${JSON.stringify(d)}: not an IP address`);
  let logLevel: LogLevel;
  try {
    logLevel = parseLogLevel(values['log-level'], 'info');
  } catch (err) {
    throw invalidArgument(`--log-level: ${(err as Error).message}`);
  }
  const storageDriver = values['storage-driver'];
  if (storageDriver !== undefined && !['overlay2', 'vfs', 'btrfs'].includes(storageDriver)) {
    throw invalidArgument(`--storage-driver ${JSON.stringify(storageDriver)}: expected overlay2, vfs or btrfs`);
  }
  if (values['userns-remap'] !== undefined) parseRemapFlag(values['userns-remap']);
  const execRoot = resolve(values['exec-root']);
  return {
    hosts,
    root: resolve(values.root),
    execRoot,
    storageDriver,
    bridge: values.bridge,
    bip: values.bip,
    iptables: values.iptables === 'true',
    dns: values.dns,
    logLevel,
    pidfile: values.pidfile !== undefined ? resolve(values.pidfile) : undefined,
    usernsRemap: values['userns-remap'],
    subuidFile: resolve(values['subuid-file']),
    subgidFile: resolve(values['subgid-file']),
  };
}
