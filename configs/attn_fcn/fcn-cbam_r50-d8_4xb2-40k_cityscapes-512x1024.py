# mmseg's FCN R-50-D8 (Cityscapes, 512x1024, 40k) with CBAM (channel, then spatial attention; Woo
# et al., arXiv 1807.06521) between the two convs of its head. Every key of mmseg's FCN
# checkpoints is unchanged; only the head's attn.* weights are new.
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py']
model = dict(
    decode_head=dict(
        type='attnplug.AttnFCNHead', attn_cfg=dict(type='attnplug.CBAM')))
