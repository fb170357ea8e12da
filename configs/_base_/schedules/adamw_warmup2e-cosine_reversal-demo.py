# The demo's optimisation (tools/main_job.py, 2-core CPU): the TDS-CLIP
# schedule (adamw_warmup4e-cosine.py) with a higher learning rate, weight
# decay 0.05, gradient clipping, 2 warm-up epochs from 0.1 of the lr, full
# precision, 20 epochs, validation every 5.
_base_ = ['./adamw_warmup4e-cosine.py']

train_cfg = dict(max_epochs=20, val_interval=5)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=4e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=20, norm_type=2),
)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2, convert_to_iter_based=True
    ),
    dict(type='CosineAnnealingLR', eta_min=0, by_epoch=True, begin=2, convert_to_iter_based=True),
]

# Tuned on one process x 16 videos.
auto_scale_lr = dict(base_batch_size=16)
