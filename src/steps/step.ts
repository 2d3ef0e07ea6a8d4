import type { StepContext } from '../engines/engine.js';
import type { StepName } from '../inputs.js';
import type { LagPoint } from '../report/lag-chart.js';

export interface StepResult {
  outputs: Record<string, string>;
  /** Markdown for the job summary. */
  summary: string;
  /** Lag over time, from await-lag-zero: for charts in reports. */
  lagHistory?: LagPoint[];
}

export type Step = (ctx: StepContext) => Promise<StepResult>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type { StepName };
