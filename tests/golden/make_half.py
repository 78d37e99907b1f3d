#!/usr/bin/python3
"""Golden values for the reduced-precision wire codec (src/mesh/half-codec.ts), computed by PyTorch.

Run: /usr/bin/python3 tests/golden/make_half.py  (writes tests/golden/half.json next to it).

Inputs are float32 bit patterns: random values over many binades (normal, subnormal in f16, beyond
f16's range), exact ties between neighbouring f16 / bf16 values and their one-ulp neighbours, and the
specials. PyTorch's float32 -> float16 / bfloat16 casts round to nearest, ties to even; the file keeps
the float32 bits of each input and the 16-bit patterns torch produced. NaN inputs are left out (only
their quietness is specified).
"""
import json
import os

import torch

torch.manual_seed(1105)


def bits32(t):
    return t.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF


def from_bits(values):
    return torch.tensor([v - (1 << 32) if v >= (1 << 31) else v for v in values], dtype=torch.int32).view(torch.float32)


parts = []
# Random magnitudes from 2^-30 to 2^20, both signs: f16 normals, subnormals, underflow and overflow.
exponents = torch.randint(-30, 21, (3000,)).to(torch.float32)
parts.append(torch.sign(torch.randn(3000)) * torch.rand(3000).add(1.0) * torch.pow(2.0, exponents))
# Gradient-like values.
parts.append(torch.randn(2000) * 1e-3)
# Specials and boundaries.
parts.append(torch.tensor([0.0, -0.0, float('inf'), float('-inf'), 65504.0, 65519.99, 65520.0, -65520.0, 2.0**-24, 2.0**-25,
                           2.0**-25 * 1.0000001, 2.0**-14, 2.0**-14 * 0.99, 3.4028234663852886e38, 1.17549435e-38, 1e-45]))
inputs = torch.cat(parts).to(torch.float32)

# Exact ties: the midpoint of two neighbouring 16-bit values is exactly representable in float32.
def ties(dtype, count):
    rand16 = torch.randint(0, 0x7BFF if dtype == torch.float16 else 0x7F7F, (count,), dtype=torch.int32).to(torch.int16)
    lo = rand16.view(dtype).to(torch.float32)
    hi = (rand16 + 1).view(dtype).to(torch.float32)
    mid = (lo.double() + hi.double()) / 2
    mid32 = mid.to(torch.float32)
    ok = mid32.double() == mid
    mid32 = mid32[ok]
    b = bits32(mid32)
    below = from_bits([int(v) - 1 for v in b])
    above = from_bits([int(v) + 1 for v in b])
    return torch.cat([mid32, below, above, -mid32])

tie_inputs = torch.cat([ties(torch.float16, 400), ties(torch.bfloat16, 400)])
inputs = torch.cat([inputs, tie_inputs])

f16 = inputs.to(torch.float16).view(torch.int16).to(torch.int64) & 0xFFFF
bf16 = inputs.to(torch.bfloat16).view(torch.int16).to(torch.int64) & 0xFFFF
out = {
    'torch': torch.__version__,
    'f32Bits': [int(v) for v in bits32(inputs)],
    'f16Bits': [int(v) for v in f16],
    'bf16Bits': [int(v) for v in bf16],
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'half.json')
with open(path, 'w') as f:
    json.dump(out, f, separators=(',', ':'))
print(f'wrote {len(out["f32Bits"])} cases to {path}')
