from torch import nn


class Block(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.act = nn.GELU()  # was nn.ReLU()

    def forward(self, x):
        return self.act(self.linear(x))


class Classifier(nn.Module):
    def __init__(self, width=64, classes=10):
        super().__init__()
        # a fourth Block
        self.blocks = nn.Sequential(Block(width), Block(width), Block(width), Block(width))
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.blocks(x))
