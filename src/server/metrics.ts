// Prometheus text exposition for /metrics: request counts by route and status, token counters, and gauges of the
// scheduler (queue depth, running batch, recent tokens/s), and with speculative decoding how often drafts are kept.

import type { SchedulerStats, SpeculationGauges } from './scheduler.js';

export class ServerMetrics {
  private readonly requests = new Map<string, number>();   // `route\u0000status` → count
  inFlight = 0;
  openConnections = 0;
  droppedConnections = 0;    // refused at once: --max-connections were open

  countRequest(route: string, status: number): void {
    const key = `${route}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  render(s: SchedulerStats | null): string {
    const out: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, lines: string[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    metric('qiusuo_requests_total', 'counter', 'HTTP requests answered, by route and status.',
      [...this.requests].sort().map(([k, n]) => { const [route, status] = k.split('\u0000'); return `qiusuo_requests_total{route="${route}",status="${status}"} ${n}`; }));
    metric('qiusuo_requests_in_flight', 'gauge', 'HTTP requests being answered now.', [`qiusuo_requests_in_flight ${this.inFlight}`]);
    metric('qiusuo_open_connections', 'gauge', 'Client connections open now.', [`qiusuo_open_connections ${this.openConnections}`]);
    metric('qiusuo_dropped_connections_total', 'counter', 'Connections closed unread because the connection limit was reached.',
      [`qiusuo_dropped_connections_total ${this.droppedConnections}`]);
    if (s) {
      metric('qiusuo_prompt_tokens_total', 'counter', 'Prompt tokens prefilled.', [`qiusuo_prompt_tokens_total ${s.promptTokens}`]);
      metric('qiusuo_completion_tokens_total', 'counter', 'Completion tokens generated.', [`qiusuo_completion_tokens_total ${s.completionTokens}`]);
      metric('qiusuo_decode_steps_total', 'counter', 'Batched decode steps.', [`qiusuo_decode_steps_total ${s.decodeSteps}`]);
      metric('qiusuo_queue_depth', 'gauge', 'Requests waiting for a generation slot.', [`qiusuo_queue_depth ${s.queued}`]);
      metric('qiusuo_batch_size', 'gauge', 'Sequences generating now (the decode batch).', [`qiusuo_batch_size ${s.running}`]);
      metric('qiusuo_last_step_batch_size', 'gauge', 'Sequences in the latest decode step.', [`qiusuo_last_step_batch_size ${s.lastBatch}`]);
      metric('qiusuo_tokens_per_second', 'gauge', 'Generated tokens per second over the last 10 seconds.', [`qiusuo_tokens_per_second ${round(s.tokensPerSec)}`]);
    }
    if (s?.speculation) speculationMetrics(s.speculation, metric);
    return out.join('\n') + '\n';
  }
}

/** Acceptance per draft position and tokens per verify pass appear once measured; the configured K always. */
function speculationMetrics(g: SpeculationGauges, metric: (name: string, type: 'gauge', help: string, lines: string[]) => void): void {
  metric('qiusuo_speculative_draft_tokens', 'gauge', 'Most tokens the MTP module drafts per step (--draft-tokens).', [`qiusuo_speculative_draft_tokens ${g.draftTokens}`]);
  metric('qiusuo_speculative_acceptance', 'gauge', 'Drafts kept / drafts that reached this draft position.',
    g.acceptance.map((a, j) => `qiusuo_speculative_acceptance{position="${j + 1}"} ${round(a)}`));
  metric('qiusuo_speculative_accepted_per_step', 'gauge', 'Mean tokens a sequence gains per verify pass (kept drafts + 1).',
    g.acceptedPerStep === null ? [] : [`qiusuo_speculative_accepted_per_step ${round(g.acceptedPerStep)}`]);
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
