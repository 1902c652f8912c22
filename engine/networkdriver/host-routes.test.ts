import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { defaultRoute, ETHERNET_MTU, uplinkMtu } from './host-routes.js';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';

describe('the host uplink MTU', () => {
  it('picks the default route of lowest metric, with its own MTU metric when set', () => {
    const text = [
      HEADER,
      'wlan0\t00000000\t010A0A0A\t0003\t0\t0\t600\t00000000\t0\t0\t0',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t9000\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    ].join('\n');
    expect(defaultRoute(text)).toEqual({ iface: 'eth0', metric: 100, mtu: 9000 });
    expect(
      defaultRoute([HEADER, 'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0'].join('\n')),
    ).toBeUndefined();
  });

  it("is this host's default-route interface MTU (Ethernet's without a default route)", async () => {
    const route = defaultRoute(readFileSync('/proc/net/route', 'utf8'));
    const r = await execa('ip', ['-4', 'route', 'show', 'default'], { reject: false });
    const dev = /\bdev (\S+)/.exec(String(r.stdout))?.[1];
    const expected =
      route === undefined || dev === undefined
        ? ETHERNET_MTU
        : route.mtu > 0
          ? route.mtu
          : Number(readFileSync(`/sys/class/net/${dev}/mtu`, 'utf8'));
    expect(await uplinkMtu()).toBe(expected);
  });
});
