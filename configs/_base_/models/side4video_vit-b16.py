# Side4Video: the TDS-CLIP side network on a frozen CLIP ViT-B/16 with the
# TD-Adapter and the SME-Adapter off. Without the SME the side network looks
# only at the frame each window is centred on, so pair it with a dataset
# base that samples n = 1 frame per segment.
_base_ = ['./tdsclip_vit-b16.py']

model = dict(neck=dict(use_td=False, use_sme=False))
