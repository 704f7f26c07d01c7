"""Write the committed state-dict keys and shapes of every layer and head case.

    python tools/freeze_state_dict_keys.py     # -> tests/layers/state_dict_keys.json

The cases are the ones ``tests/layers/test_state_dict_keys.py`` defines; that test holds the
code against this file, so that checkpoints keep loading. Regenerate it only for a deliberate,
documented key change (a new layer adds its case and keys), and read the diff first: no
existing key may change.
"""
import json
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# benchmarks/ is not installed: it is imported from this checkout.
sys.path.insert(0, ROOT)


def main(argv=None):
    from benchmarks.paths import repo_script
    cases = repo_script('tests/layers/test_state_dict_keys.py')
    data = {**cases._current(cases._layer_cases()), **cases._current(cases._model_cases())}
    with open(cases.KEYS_FILE, 'w') as f:
        f.write(json.dumps(data, indent=1, sort_keys=True) + '\n')
    print(f'{len(data)} cases -> {osp.relpath(str(cases.KEYS_FILE), ROOT)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
