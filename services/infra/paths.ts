// Where the project keeps what it installs and what the local stack writes. Both are git-ignored
// and relocatable, so several checkouts (or worktrees) can share one tools folder.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const toolsDir = process.env.JPW_TOOLS_DIR || join(root, ".tools");
export const dataDir = process.env.JPW_DATA_DIR || join(root, ".data");
export const artifactsDir = join(root, "artifacts");
