/**
 * Rules name classes (rejectClasses, classConf keys) by name or numeric id; a typo there would silently
 * turn rejects off. Checked against the model's class list wherever both are known: at start, on
 * reload, on a model swap, and by check-config when the model file can be read.
 */
import { ConfigInvalidError, closest, formatPath, type ConfigProblem, type LoadedConfig, type Seg } from './load.js';

/** Whether `key` names one of `names` (a class name, or a numeric id in range). */
function knownClass(key: string, names: readonly string[]): boolean {
  if (/^\d+$/.test(key)) return Number(key) < names.length;
  return names.includes(key);
}

function unknownClassMessage(key: string, names: readonly string[], modelPath: string): string {
  const model = modelPath.split('/').at(-1);
  if (/^\d+$/.test(key)) return `class id ${key} is out of range: model ${model} has ${names.length} classes (0-${names.length - 1})`;
  const hint = closest(key, names);
  return `unknown class '${key}': model ${model} has no such class${hint ? ` (did you mean '${hint}'?)` : ''}; run \`inspectd info --model ${modelPath} --all\` to list them`;
}

/** Every class the config's rules name that the model does not have, with file positions. */
export function modelClassProblems(loaded: LoadedConfig, names: readonly string[], modelPath = loaded.config.model.path): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (segs: readonly Seg[], message: string, key = false): void => {
    const pos = loaded.locator.at(segs, key);
    problems.push({ file: loaded.source, line: pos?.line, col: pos?.col, path: formatPath(segs), message });
  };
  loaded.config.cameras.forEach((cam, i) => {
    cam.rules.rejectClasses.forEach((cls, j) => {
      if (!knownClass(cls, names)) add(['cameras', i, 'rules', 'rejectClasses', j], unknownClassMessage(cls, names, modelPath));
    });
    for (const cls of Object.keys(cam.rules.classConf)) {
      if (!knownClass(cls, names)) add(['cameras', i, 'rules', 'classConf', cls], unknownClassMessage(cls, names, modelPath), true);
    }
  });
  return problems;
}

/** Throws CONFIG_INVALID (every problem, file:line) when the rules name classes the model lacks. */
export function assertRulesMatchModel(loaded: LoadedConfig, names: readonly string[], modelPath?: string): void {
  const problems = modelClassProblems(loaded, names, modelPath);
  if (problems.length > 0) throw new ConfigInvalidError(loaded.source, problems);
}
