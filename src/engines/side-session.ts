/** What every engine's session knows about the two sides, whatever the database: the endpoints and how messages name them. */
import type { StepContext } from './engine.js';
import { UserError } from '../errors.js';
import { CUTOVER_NAMES, type Endpoint, type Side, type SideNames } from '../hosts/endpoint.js';

export abstract class SideSession {
  constructor(readonly ctx: StepContext) {}

  get inputs() {
    return this.ctx.inputs;
  }

  /** The side the engine calls its source (rollback: the new primary). Throws when the step has no source-url. */
  get sourceEndpoint(): Endpoint {
    if (!this.ctx.source) throw new UserError('input source-url is required for this step');
    return this.ctx.source;
  }

  get targetEndpoint(): Endpoint {
    return this.ctx.target;
  }

  /** How this step's messages name the sides. */
  get names(): SideNames {
    return this.ctx.names ?? CUTOVER_NAMES;
  }

  /** A connection to the target, opened once and kept (each engine's client). */
  abstract target(): Promise<{ query(sql: string): Promise<unknown> }>;
  /** Drops a side's connection, so that the next use reconnects. */
  abstract forget(which: Side): Promise<void>;

  /** Whether the target answers a query now; its connection is dropped either way (abort stops only a running server). */
  async targetAnswers(): Promise<boolean> {
    const up = await this.target()
      .then((c) => c.query('SELECT 1'))
      .then(
        () => true,
        () => false,
      );
    await this.forget('target');
    return up;
  }

  /** The endpoint of one side. */
  endpoint(which: Side): Endpoint {
    return which === 'source' ? this.sourceEndpoint : this.targetEndpoint;
  }
}
