import { ByteBudget } from "../stream/budget.ts";

/** One budget per connection: a worker's services all draw on the same bytes. */
const budgets = new WeakMap<object, ByteBudget>();

/** The budget of unread streamed bytes shared by everything served on `nc`. */
export function streamBudgetOf(nc: object, limit: number): ByteBudget {
  let budget = budgets.get(nc);
  if (budget === undefined) {
    budget = new ByteBudget(limit);
    budgets.set(nc, budget);
  }
  return budget;
}
