# Frame-averaging baseline on the time-reversal demo: the same frozen
# backbone, per-frame features averaged over time, then a linear classifier.
# It cannot see the order of frames, so within a time-reversed pair it scores
# chance (50 %) by construction. It uses only each window's centre frame, so
# only those frames are decoded (see _base_/centre_frames_tiny_reversal.py).
_base_ = ['./_base_/centre_frames_tiny_reversal.py']

model = dict(
    neck=dict(
        _delete_=True,
        type='FrameAveragingNeck',
        num_segments={{_base_.num_segments}},
        num_local_frames={{_base_.num_local_frames}},
        side_dim={{_base_.side_dim}},
    )
)
