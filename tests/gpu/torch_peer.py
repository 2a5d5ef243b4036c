"""The GPU peer for tests/gpu/run: PyTorch eager on cuda:0, the workloads of
shared/bench/WORKLOADS.md on synthetic data already on the GPU (loading not timed): W1 (MLP
784-1000-1000-10, Adam 1e-3) at batch 100 and 1000, W2 (the CNN, Adam 1e-3, batch 128),
training samples/s, median of 3 windows after a warm-up; W4 (one 1-element add) in us.
float32 exact (TF32 off), as Catena's default. Prints "name value" lines."""
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("torch_peer: PyTorch is not installed here", file=sys.stderr)
    sys.exit(2)

if not torch.cuda.is_available():
    print("torch_peer: PyTorch sees no GPU", file=sys.stderr)
    sys.exit(1)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda:0")


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1000), nn.ReLU(), nn.Linear(1000, 1000), nn.ReLU(),
                         nn.Linear(1000, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def train_rate(make, batch, iters):
    model = make().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28, device=dev)
    t = torch.randint(0, 10, (batch,), device=dev)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), t).backward()
        opt.step()

    for _ in range(20):
        step()
    torch.cuda.synchronize()
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        torch.cuda.synchronize()
        rates.append(batch * iters / (time.perf_counter() - t0))
    return statistics.median(rates)


def add_us():
    a = torch.ones(1, device=dev)
    b = torch.ones(1, device=dev)
    for _ in range(1000):
        a + b
    torch.cuda.synchronize()
    n = 10000
    t0 = time.perf_counter()
    for _ in range(n):
        a + b
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n * 1e6


print("torch", torch.__version__, torch.cuda.get_device_name(0))
print("w1_b100_samples_per_s", round(train_rate(mlp, 100, 200)))
print("w1_b1000_samples_per_s", round(train_rate(mlp, 1000, 100)))
print("w2_b128_samples_per_s", round(train_rate(cnn, 128, 100)))
print("w4_add_us", round(add_us(), 2))
