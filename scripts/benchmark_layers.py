"""Benchmark the group layers: forward + backward time per layer and group, against a naive loop.

    python scripts/benchmark_layers.py [--device cpu|cuda] [--batch 32] [--size 33] [--channels 16] [--repeats 10]

"ours" builds the whole transformed filter bank with one gather and runs one conv2d; "loop" transforms the
filter per group element (rot90 / flip / roll) and runs one conv2d per element, as a straightforward
implementation would. Prints a table (milliseconds, median of repeats) and the speed-up.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from gcnn.groups import get_group
from gcnn.nn import GroupConv2d, LiftingConv2d


def loop_group_conv(x, weight, bias, group, padding):
    """Reference implementation: one conv per output element, filters transformed one by one (exact groups)."""
    n = group.order
    b, c_in, _, h, w = x.shape
    outs = []
    for s in range(n):
        filt = weight[:, :, group.permutation(s)]  # ψ(s⁻¹h, ·)
        filt = group.act_on_image(s, filt)  # ψ(·, s⁻¹p)
        outs.append(F.conv2d(x.reshape(b, c_in * n, h, w), filt.reshape(weight.shape[0], -1, *filt.shape[-2:]),
                             bias, padding=padding))
    return torch.stack(outs, 2)


def timed(fn, repeats, device):
    times = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:  # two warm-up calls
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=33)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    c, bsz, size = args.channels, args.batch, args.size
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'cpu'}, {torch.get_num_threads()} threads"
    print(f"device: {device} ({name}); batch {bsz}, {c}→{c} channels, {size}×{size}, kernel 3, torch {torch.__version__}")
    print()
    header = f"{'layer':<14}{'group':<7}{'|G|':>4}{'ours fwd+bwd ms':>17}{'loop fwd+bwd ms':>17}{'speed-up':>10}{'eval fwd ms (cached bank)':>27}"
    print(header)
    print("-" * len(header))
    for gname in ("z2", "p4", "p4m", "p6", "p8"):
        g = get_group(gname)
        for kind in ("lifting", "group"):
            layer = (LiftingConv2d(c, c, 3, g, padding=1) if kind == "lifting" else GroupConv2d(c, c, 3, g, padding=1)).to(device)
            x = torch.randn(bsz, c, size, size, device=device) if kind == "lifting" else torch.randn(bsz, c, g.order, size, size, device=device)

            def ours():
                layer(x).sum().backward()

            loop_ms = float("nan")
            if kind == "group" and all(g.is_exact(a) for a in range(g.order)):
                weight = layer.weight.detach().clone().requires_grad_(True)

                def loop():
                    loop_group_conv(x, weight, layer.bias, g, 1).sum().backward()

                with torch.no_grad():  # the two implementations agree before we time them
                    assert torch.allclose(loop_group_conv(x, weight, layer.bias, g, 1), layer(x), atol=1e-4)
                loop_ms = timed(loop, args.repeats, device)
            ours_ms = timed(ours, args.repeats, device)
            layer.eval()
            with torch.no_grad():
                eval_ms = timed(lambda: layer(x), args.repeats, device)
            layer.train()
            speed = f"{loop_ms / ours_ms:.2f}×" if loop_ms == loop_ms else "–"
            loop_txt = f"{loop_ms:.2f}" if loop_ms == loop_ms else "–"
            print(f"{kind:<14}{gname:<7}{g.order:>4}{ours_ms:>17.2f}{loop_txt:>17}{speed:>10}{eval_ms:>27.2f}")
    print()
    print("loop: only for groups whose every element is exact (p6/p8 rotations other than 90° need interpolation).")


if __name__ == "__main__":
    main()
