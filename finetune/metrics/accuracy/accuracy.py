"""Accuracy as an ``evaluate`` metric module, shipped in the repo so it loads without the Hub.

``evaluate.load("accuracy")`` downloads its script from the Hugging Face Hub; the training scripts load
this file by path instead (``evaluate.load("finetune/metrics/accuracy")``), which works offline and
pins the definition. Same inputs and output as the Hub module: ``{"accuracy": float}``.
"""
import datasets
import evaluate
from sklearn.metrics import accuracy_score

_DESCRIPTION = "Fraction of predictions equal to the references: (TP + TN) / N."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
    normalize (bool): fraction (True, default) or count (False) of correct predictions.
    sample_weight (list of float): per-example weights (default: equal).
Returns:
    accuracy (float): 0.0 to 1.0 (or a count when normalize=False).
Example:
    >>> metric = evaluate.load("finetune/metrics/accuracy")
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])
    {'accuracy': 0.6666666666666666}
"""
_CITATION = ("@article{scikit-learn, title={Scikit-learn: Machine Learning in {P}ython}, "
             "author={Pedregosa, F. and others},\n"
             "journal={Journal of Machine Learning Research}, volume={12}, pages={2825--2830}, year={2011}}")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    """Plain classification accuracy (scikit-learn's ``accuracy_score``)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        return {"accuracy": float(accuracy_score(references, predictions, normalize=normalize,
                                                 sample_weight=sample_weight))}
