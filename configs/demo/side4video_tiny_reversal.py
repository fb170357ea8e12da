# Side4Video on the time-reversal demo: TDS-CLIP with the TD-Adapter and the
# SME-Adapter turned off (same frozen backbone, side width and recipe).
# Without SME only each window's centre frame is used, so only those frames
# are decoded (see _base_/centre_frames_tiny_reversal.py).
_base_ = ['./_base_/centre_frames_tiny_reversal.py']

model = dict(neck=dict(use_td=False, use_sme=False))
