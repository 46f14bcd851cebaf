// Host steal time: the share of this VM's CPU time that the hypervisor gave to other guests, from /proc/stat's
// `steal` column (Linux; null elsewhere). Benchmarks record it beside their figures, because on this shared 2-vCPU
// VM it moves from none to a large share and takes the two-thread figures with it.

import * as fs from 'node:fs';

/** Jiffies of all CPUs together: [steal, total]. */
function readStat(): [number, number] | null {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    if (cpu.length < 8 || cpu.some((v) => !Number.isFinite(v))) return null;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user/nice]
    return [cpu[7], cpu.slice(0, 8).reduce((a, b) => a + b, 0)];
  } catch {
    return null;
  }
}

/** Starts a measurement; the returned function gives the steal percentage since then (null where not available). */
export function stealMeter(): () => number | null {
  const start = readStat();
  return () => {
    const end = readStat();
    if (!start || !end || end[1] <= start[1]) return null;
    return (100 * (end[0] - start[0])) / (end[1] - start[1]);
  };
}
