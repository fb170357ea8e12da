# TDS-CLIP (TD-Adapters + SME-Adapter) on a frozen open_clip ViT-B/16 picked
# by name, Something-Something V2, with the TDS-CLIP recipe.
#
# OpenCLIPViT builds open_clip.create_model(model_name, pretrained=...) and
# keeps its visual tower; width, depth, patch size and grid are read from it.
# pretrained='openai' downloads OpenAI's weights into open_clip's cache on
# first use (or give a local checkpoint path); None leaves the tower random.
_base_ = [
    '../_base_/models/tdsclip_vit-b16.py',
    '../_base_/datasets/sthv2_videos.py',
    '../_base_/schedules/adamw_warmup4e-cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='OpenCLIPViT',
        model_name='ViT-B-16',
        pretrained='openai',
        force_quick_gelu=True,
        img_size=224,
        precision='fp32',
    ),
    neck=dict(num_segments={{_base_.num_segments}}, num_local_frames={{_base_.num_local_frames}}),
    cls_head=dict(num_classes={{_base_.num_classes}}),
)
