/** `fence: accounts`: what the fence will lock, and what keeps it from working, listed before cutover changes anything. */
import { skip, verdict, type CheckUnit } from '../../../checks/check.js';
import { accountLabel, planAccountFence } from '../account-fence.js';
import type { MyCheckContext } from './context.js';

export const accountFence: CheckUnit<MyCheckContext> = {
  id: 'account-fence',
  title: 'fence: accounts',
  scopes: ['preflight'],
  async run(c) {
    if (c.s.inputs.fence !== 'accounts') return skip(`fence: ${c.s.inputs.fence}; the accounts fence is not used`);
    const plan = await planAccountFence(c.s);
    return verdict(
      plan.problems.length === 0,
      plan.problems.length
        ? `cutover would refuse: ${plan.problems.join('; ')}`
        : `cutover locks ${plan.accounts.map((a) => accountLabel(a) + (a.locked ? ' (locked already: left locked on abort)' : '')).join(', ')} and ends their sessions with ${c.s.inputs.killCommand}; ${accountLabel(plan.own)} (source-url) stays unlocked`,
    );
  },
};
