"""A backbone with adapters hooked after named submodules, built from a config alone."""

from typing import Dict, List, Optional, Sequence, Union

from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ..utils.adapter_insertion import insert_adapters


@MODELS.register_module()
class AdapterInsertedBackbone(BaseModule):
    """Any backbone with adapters hooked after named submodules, built from a config alone.

    Example, TD-Adapters after the second conv of every ResNet-TSM block::

        backbone=dict(
            type='AdapterInsertedBackbone',
            backbone=dict(type='ResNetTSM', depth=50, num_segments=8),
            adapters=[dict(after='layer*.*.conv2', layout='NCHW-frames')])

    The wrapper's ``forward`` is the backbone's; the backbone's parameter
    names are unchanged (they sit under ``backbone.``), the adapters under
    ``adapters.<host name with '__' for dots>.adapter``.

    Args:
        backbone: Config of the backbone (any registered module).
        adapters: Adapter configs, see :func:`insert_adapters`.
        init_cfg: OpenMMLab init config of the wrapper.
    """

    def __init__(
        self,
        backbone: Dict,
        adapters: Sequence[Dict],
        init_cfg: Optional[Union[Dict, List[Dict]]] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if not adapters:
            raise ValueError('AdapterInsertedBackbone needs at least one adapter config.')
        self.backbone = MODELS.build(backbone)
        self.adapters = insert_adapters(self.backbone, adapters)

    def init_weights(self) -> None:
        """Initialise the backbone (its own ``init_weights``, e.g. pretrained), then the adapters."""
        super().init_weights()
        for inserted in self.adapters.values():
            inserted.init_weights()

    def forward(self, *args, **kwargs):
        """The backbone's forward, with the adapters applied inside it."""
        return self.backbone(*args, **kwargs)
