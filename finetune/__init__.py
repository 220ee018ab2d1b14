"""Fine-tuning and evaluation scripts for genre classifiers (run ``finetune/train.py --help``).

A package, so the benchmarks and tests import the same code the scripts run. The scripts take
care that this folder is not put first on ``sys.path`` when run as files, because
``finetune/evaluate.py`` would otherwise shadow the ``evaluate`` library.
"""
