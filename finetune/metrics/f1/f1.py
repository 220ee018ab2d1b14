"""F1 as an ``evaluate`` metric module, shipped in the repo so it loads without the Hub.

Loaded by path (``evaluate.load("finetune/metrics/f1")``) because ``evaluate.load("f1")`` needs the
Hugging Face Hub. Same inputs and output as the Hub module: ``{"f1": float}`` (or an array per class
with ``average=None``). Genre results use ``average="macro"``: every genre counts the same, however
many tracks it has (FMA medium is very unbalanced).
"""
import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = "F1 = 2 * (precision * recall) / (precision + recall), per class and averaged."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
    labels (list of int): the classes to include (default: those present); pass all class ids for
        a macro average that also counts classes missing from a small evaluation set.
    pos_label (int): the positive class for average="binary" (default 1).
    average (str): "binary" (default), "micro", "macro", "weighted", "samples" or None (per class).
    sample_weight (list of float): per-example weights.
    zero_division (float or "warn"): value when a class has no predictions and no references (0.0 here).
Returns:
    f1 (float, or array of float with average=None): 0.0 to 1.0.
Example:
    >>> metric = evaluate.load("finetune/metrics/f1")
    >>> metric.compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2], average="macro")
"""
_CITATION = ("@article{scikit-learn, title={Scikit-learn: Machine Learning in {P}ython}, "
             "author={Pedregosa, F. and others},\n"
             "journal={Journal of Machine Learning Research}, volume={12}, pages={2825--2830}, year={2011}}")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    """scikit-learn's ``f1_score`` with the Hub module's interface."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None,
                 zero_division=0.0):
        score = f1_score(references, predictions, labels=labels, pos_label=pos_label, average=average,
                         sample_weight=sample_weight, zero_division=zero_division)
        return {"f1": score.tolist() if hasattr(score, "tolist") and getattr(score, "ndim", 0) else float(score)}
