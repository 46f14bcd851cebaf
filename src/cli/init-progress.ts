// The progress bar of `qiusuo init` on stderr (stdout keeps only the one-line result): bytes written, rate, ETA.
// Shown only on a terminal and only for checkpoints big enough to take a noticeable time.

import cliProgress from 'cli-progress';

/** Below this many bytes init takes about a second; a bar would only flash. */
const BAR_FROM_BYTES = 256 * 1024 * 1024;

const gb = (b: number): string => (b / 1e9).toFixed(2);

/** An onProgress callback for initCheckpoint, and `stop` to call once it returns or throws. */
export function initProgress(): { onProgress: (written: number, total: number) => void; stop: () => void } {
  let bar: cliProgress.SingleBar | null = null;
  let started = 0;
  let lastDraw = 0;
  const onProgress = (written: number, total: number): void => {
    if (written === 0) {
      if (process.stderr.isTTY !== true || total < BAR_FROM_BYTES) return;
      bar = new cliProgress.SingleBar({
        format: 'writing weights |{bar}| {percentage}% | {done}/{all} GB | {rate} MB/s | ETA {eta_formatted}',
        stream: process.stderr, hideCursor: true, etaBuffer: 50, fps: 5,
      }, cliProgress.Presets.shades_classic);
      started = performance.now();
      bar.start(total, 0, { done: gb(0), all: gb(total), rate: '–' });
      return;
    }
    const now = performance.now();
    if (!bar || (now - lastDraw < 200 && written < total)) return; // chunks arrive every few ms; redraw 5× a second
    lastDraw = now;
    bar.update(written, { done: gb(written), rate: (written / 1e6 / ((now - started) / 1000)).toFixed(0) });
  };
  return { onProgress, stop: () => { (bar as cliProgress.SingleBar | null)?.stop(); } };
}
