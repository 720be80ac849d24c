// The reconciler as a module: what the stack start-up, the test harness and other tools import.
//
//   const desired = loadSpecFile();                    // SpecError listing every problem, file:line
//   const nc = await connectTo(natsUrl);               // UnreachableError, CredentialsError
//   try {
//     const p = await plan(nc, desired, { monitorUrl }); // reads only; PlanError, JetStreamDisabledError
//     console.log(renderPlan(p));
//     await apply(nc, p, { log: console.log });        // DestructiveChangeError, PermissionDeniedError, ApiError
//   } finally {
//     await nc.close();
//   }
//
// or `await reconcile(nc, desired, opts)` for both steps. Without `allowDestructive` nothing is
// ever deleted and recreated, and without `prune` nothing is deleted at all.
export {
  type ApplyOptions,
  type ApplyResult,
  apply,
  applyStreamsFile,
  type ReconcileOptions,
  reconcile,
} from "./apply.ts";
export {
  ApiError,
  CredentialsError,
  DestructiveChangeError,
  JetStreamDisabledError,
  PermissionDeniedError,
  PlanError,
  UnreachableError,
} from "./errors.ts";
export { type Change, hasChanges, type Plan, type PlanOptions, plan } from "./plan.ts";
export { planJson, renderPlan } from "./render.ts";
export { connectTo } from "./server.ts";
export {
  type DesiredState,
  defaultSpecFile,
  loadSpecFile,
  managedKey,
  managedValue,
  parseSpec,
  SpecError,
} from "./spec.ts";
