"""onepixel: exhaustive one-pixel adversarial studies (Kügler et al., 2018).

The complete set of successful one-pixel flips of binary images, exactly:

    import onepixel
    arch = onepixel.Architecture(size=16)
    cube = onepixel.flip_search(onepixel.CNN(arch), params, images, labels)
    cube["adversarial"]  # (image, row, col): every one-pixel adversarial example

``load_network`` and ``open_cube`` read a study's checkpoints and cubes.
"""

from onepixel.api import Network, flip_search, load_network, open_cube
from onepixel.model import CNN, Architecture

__version__ = "0.1.0"
__all__ = ["CNN", "Architecture", "Network", "flip_search", "load_network", "open_cube"]
