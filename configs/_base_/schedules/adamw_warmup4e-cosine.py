# TDS-CLIP optimisation: AdamW (0.9, 0.999), eps 1e-8, weight decay 0.15 on
# every trainable parameter, norms and biases included (no paramwise_cfg: the
# default constructor gives each parameter the optimizer's weight decay; the
# frozen CLIP tower gets no gradient, so AdamW never touches it). Linear
# warm-up over 4 epochs from ~0 (mmengine's LinearLR cannot start at exactly
# 0: 1e-3 of the lr), then cosine to 0, both per iteration.
#
# The number of epochs is stated once, in train_cfg: the cosine has no `end`
# (nor T_max), so MMEngine's Runner ends it at train_cfg.max_epochs. A config
# for another length sets only `train_cfg = dict(max_epochs=N)` (N > 4).
# Mixed precision (AmpOptimWrapper, CUDA); on a CPU run override with
# --cfg-options optim_wrapper.type=OptimWrapper.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.15),
)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        end_factor=1.0,
        by_epoch=True,
        begin=0,
        end=4,
        convert_to_iter_based=True,
    ),
    dict(type='CosineAnnealingLR', eta_min=0, by_epoch=True, begin=4, convert_to_iter_based=True),
]

# The recipe: 8 GPUs x 16 videos (x 2 augmented views each). With another
# number of GPUs or videos per GPU, train with --auto-scale-lr to scale the
# learning rate linearly to the real batch size. A config with another batch
# states its own base_batch_size (GPUs x videos per GPU).
auto_scale_lr = dict(enable=False, base_batch_size=128)
