# Runtime defaults shared by every mmaction-tdsclip config.
default_scope = 'mmaction'
custom_imports = dict(imports=['mmaction_tdsclip'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Written to a temp file and renamed: a kill never leaves a half-written checkpoint.
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, save_best='auto', max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'),
    # Off unless tools/test.py --show-dir / --show turns it on: draws one view per video.
    visualization=dict(type='SingleViewVisualizationHook', enable=False),
)

# Config mistakes stop the run before the first batch; a nan/inf loss stops
# it before its checkpoint is written; broken videos are counted per epoch.
# A config that sets its own custom_hooks replaces this list: repeat these.
custom_hooks = [
    dict(type='TDSConfigCheckHook'),
    dict(type='NaNGuardHook'),
    dict(type='SkippedSamplesHook'),
]

# Distributed runs (--launcher pytorch): nccl for GPUs. Where CUDA is
# unavailable, `import mmaction_tdsclip` (custom_imports) makes mmengine's
# initialisation use gloo and skip torch.cuda.set_device instead
# (mmaction_tdsclip.compat.enable_cpu_distributed), so the same config runs
# on CPU-only machines.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# DDP with device_ids=None: the Runner has already moved the model to its
# device (cuda:LOCAL_RANK, or the CPU), and DDP then uses that device. The
# Runner's own default, device_ids=[LOCAL_RANK], is rejected by DDP for a
# CPU model. Otherwise as the Runner's default wrapper; set
# find_unused_parameters here (the top-level key is ignored once
# model_wrapper_cfg exists).
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel',
    device_ids=None,
    broadcast_buffers=False,
    find_unused_parameters=False,
)

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
