"""magic-cube: marketing activities (bargain, group-buy, lottery, gift …) described as data."""

__version__ = "0.1.0"
