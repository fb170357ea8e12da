# Side4Video on the time-reversal demo: TDS-CLIP with the TD-Adapter and the
# SME-Adapter turned off (same frozen backbone, side width and recipe).
_base_ = ['./tdsclip_tiny_reversal.py']

model = dict(neck=dict(use_td=False, use_sme=False))
