"""Benchmark the group layers: forward + backward time per layer and group, against a naive loop and a floor.

    python scripts/benchmark_layers.py [--device cpu|cuda] [--batch 32] [--size 33] [--channels 16] [--repeats 10]
                                       [--out results/bench]

"ours" builds the whole transformed filter bank with one gather and runs one conv2d; "loop" transforms the
filter per group element (rot90 / flip / roll) and runs one conv2d per element, as a straightforward
implementation would. "conv2d floor" is one plain `F.conv2d` (`F.conv_transpose2d` for the transposed layer)
with a weight of the expanded shape (C_out·|G|, C_in·|G_in|, k, k) on the same input: the cost of the
convolution alone, without building the bank; "ours/floor" is the overhead of the filter transform.
Prints a table (milliseconds, median of repeats) and, with --out, writes it to <out>/layers_<device>_on_<hardware>.md.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from gcnn.groups import get_group
from gcnn.nn import GroupConv2d, GroupConvTranspose2d, LiftingConv2d
from gcnn_study.run import provenance


def loop_group_conv(x, weight, bias, group, padding):
    """Reference implementation: one conv per output element, filters transformed one by one (exact groups)."""
    n = group.order
    b, c_in, _, h, w = x.shape
    outs = []
    for s in range(n):
        filt = weight[:, :, group.permutation(s)]  # ψ(s⁻¹h, ·)
        filt = group.act_on_image(s, filt)  # ψ(·, s⁻¹p)
        outs.append(
            F.conv2d(
                x.reshape(b, c_in * n, h, w), filt.reshape(weight.shape[0], -1, *filt.shape[-2:]), bias, padding=padding
            )
        )
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


def floor_fn(layer, x):
    """Plain conv2d / conv_transpose2d with a weight of the bank's expanded shape: what the layer costs at least."""
    f_out, f_in, in_order, k, _ = layer.weight.shape
    n = layer.group.order
    weight = torch.randn(f_out * n, f_in * in_order, k, k, device=x.device, requires_grad=True)
    inp = x if x.dim() == 4 else x.reshape(x.shape[0], -1, *x.shape[-2:])
    bias = torch.zeros(
        weight.shape[1] if isinstance(layer, GroupConvTranspose2d) else weight.shape[0],
        device=x.device,
        requires_grad=True,
    )
    if isinstance(layer, GroupConvTranspose2d):
        return lambda: F.conv_transpose2d(inp, weight, bias, layer.stride, layer.padding).sum().backward()
    return lambda: F.conv2d(inp, weight, bias, layer.stride, layer.padding).sum().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=33)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=None, help="folder for layers_<device>_on_<hardware>.md (default: stdout)")
    args = parser.parse_args()
    device = torch.device(args.device)
    c, bsz, size = args.channels, args.batch, args.size
    out = io.StringIO()

    def emit(line=""):
        print(line, flush=True)
        out.write(line + "\n")

    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{provenance.cpu_model()}, {torch.get_num_threads()} threads"
    )
    emit(
        f"device: {device} ({name}); batch {bsz}, {c}→{c} channels, {size}×{size}, kernel 3, torch {torch.__version__}"
    )
    emit()
    header = (
        f"{'layer':<11}{'group':<7}{'|G|':>4}{'ours fwd+bwd ms':>17}{'loop fwd+bwd ms':>17}{'speed-up':>10}"
        f"{'conv2d floor ms':>17}{'ours/floor':>12}{'eval fwd ms (cached bank)':>27}"
    )
    emit(header)
    emit("-" * len(header))
    for gname in ("z2", "p4", "p4m", "p6", "p8"):
        g = get_group(gname)
        for kind in ("lifting", "group", "transpose"):
            if kind == "lifting":
                layer = LiftingConv2d(c, c, 3, g, padding=1)
            elif kind == "group":
                layer = GroupConv2d(c, c, 3, g, padding=1)
            else:  # the SegNet_T upsampling: stride 2, (n → 2n − 1) on odd sizes
                layer = GroupConvTranspose2d(c, c, 3, g, stride=2, padding=1)
            layer = layer.to(device)
            x = (
                torch.randn(bsz, c, size, size, device=device)
                if kind == "lifting"
                else torch.randn(bsz, c, g.order, size, size, device=device)
            )

            def ours(layer=layer, x=x):
                layer(x).sum().backward()

            loop_ms = float("nan")
            if kind == "group" and all(g.is_exact(a) for a in range(g.order)):
                weight = layer.weight.detach().clone().requires_grad_(True)

                def loop(x=x, weight=weight, layer=layer, g=g):
                    loop_group_conv(x, weight, layer.bias, g, 1).sum().backward()

                with torch.no_grad():  # the two implementations agree before we time them
                    assert torch.allclose(loop_group_conv(x, weight, layer.bias, g, 1), layer(x), atol=1e-4)
                loop_ms = timed(loop, args.repeats, device)
            ours_ms = timed(ours, args.repeats, device)
            floor_ms = timed(floor_fn(layer, x), args.repeats, device)
            layer.eval()
            with torch.no_grad():
                eval_ms = timed(lambda layer=layer, x=x: layer(x), args.repeats, device)
            layer.train()
            speed = f"{loop_ms / ours_ms:.2f}×" if loop_ms == loop_ms else "–"
            loop_txt = f"{loop_ms:.2f}" if loop_ms == loop_ms else "–"
            emit(
                f"{kind:<11}{gname:<7}{g.order:>4}{ours_ms:>17.2f}{loop_txt:>17}{speed:>10}"
                f"{floor_ms:>17.2f}{ours_ms / floor_ms:>11.2f}×{eval_ms:>27.2f}"
            )
    emit()
    emit("loop: only for groups whose every element is exact (p6/p8 rotations other than 90° need interpolation).")
    emit("floor: one plain conv2d (conv_transpose2d for `transpose`) with the expanded weight, forward + backward.")
    if args.out:
        path = Path(args.out) / f"layers_{device.type}_on_{provenance.hardware_slug(device.type)}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        command = "python " + " ".join(sys.argv)
        path.write_text(
            "# Group layers: forward + backward time, ours (one gather + one conv) vs a per-element loop and a "
            "plain conv2d floor\n\n"
            f"Made by: `{command}` (`make bench`) on {when}, on {platform.node() or 'this machine'} "
            f"({platform.platform()}, {__import__('os').cpu_count()} CPUs).\n\n```\n{out.getvalue()}```\n"
        )
        print(f"written: {path}")


if __name__ == "__main__":
    main()
