"""How long the YAMNet port takes on this machine's CPU, and how big it is.

    python benchmarks/bench_yamnet.py [--repeats 5]

For 30 s of 16-kHz audio (a synthetic signal; the cost does not depend on the content) it prints, each
the median of ``--repeats`` runs after a warm-up, with 1 and 2 torch threads: the process's CPU time
(all threads) and wall time of the whole answer (log-mel + network: 62 patches of 0.96 s every 0.48 s,
scores and embeddings of every patch), of the log-mel alone, and the network's time per patch; for
each arithmetic mode of the model (``emulation``: ``exact`` as shipped, equal to the TFLite file;
``int8``; ``none``, plain float). Then the parameters and the multiply-adds per patch. On a shared
machine the figures depend on the load (printed with them).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import genre_models.hf_models  # noqa: E402,F401
from genre_models.hf_models import yamnet as Y  # noqa: E402

FOLDER = Path(__file__).resolve().parents[1] / "genre_models" / "pretrained" / "yamnet-audioset"


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median (CPU seconds of this process, wall seconds) over ``repeats`` runs after a warm-up."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return statistics.median(cpu), statistics.median(wall)


def multiply_adds(model: Y.YAMNetForAudioClassification) -> int:
    """Multiply-adds of one patch: every conv (output elements × inputs per output) and the classifier."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, torch.nn.Linear):
            total += output.numel() * module.in_features

    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    hooks = [m.register_forward_hook(count) for m in layers]
    with torch.inference_mode():
        model.patch_outputs(torch.zeros(1, 96, 64))
    for h in hooks:
        h.remove()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    fe = AutoFeatureExtractor.from_pretrained(FOLDER)
    t = np.arange(30 * 16000) / 16000
    rng = np.random.default_rng(0)
    y = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.05 * rng.standard_normal(t.size))
    y = y.astype(np.float32)
    feats = fe(y, sampling_rate=16000, return_tensors="pt")
    model = AutoModelForAudioClassification.from_pretrained(FOLDER).eval()
    n_patches = int(model._patches(feats["input_features"], None)[1].numel())
    print(f"input: 30 s at 16 kHz, {n_patches} patches of 0.96 s every 0.48 s; {os.cpu_count()} CPUs, "
          f"1-min load average {os.getloadavg()[0]:.1f}; median of {args.repeats}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        cpu_fe, wall_fe = timed(lambda: fe(y, sampling_rate=16000, return_tensors="pt"), args.repeats)
        print(f"\ntorch threads {threads}: log-mel alone {1000 * cpu_fe:.0f} CPU-ms ({1000 * wall_fe:.0f} ms wall)")
        for emulation in Y.EMULATIONS:
            model.config.emulation = emulation

            def whole():
                inputs = fe(y, sampling_rate=16000, return_tensors="pt")
                with torch.inference_mode():
                    return model.patch_outputs(inputs["input_features"], inputs["attention_mask"])

            def network():
                with torch.inference_mode():
                    return model.patch_outputs(feats["input_features"], feats["attention_mask"])

            cpu, wall = timed(whole, args.repeats)
            net_cpu, net_wall = timed(network, args.repeats)
            print(f"  emulation={emulation:<5}: {1000 * cpu:5.0f} CPU-ms per 30 s of audio "
                  f"({1000 * wall:5.0f} ms wall); network {1000 * net_wall / n_patches:.1f} ms per patch "
                  f"({1000 * net_cpu / n_patches:.1f} CPU-ms)")
    model.config.emulation = "exact"
    params = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.yamnet.parameters())
    print(f"\nparameters: {params / 1e6:.2f} M ({backbone / 1e6:.2f} M backbone, "
          f"{(params - backbone) / 1e6:.2f} M AudioSet classifier)")
    print(f"multiply-adds per patch: {multiply_adds(model) / 1e6:.1f} M")


if __name__ == "__main__":
    main()
