# mmseg's CCNet R-50-D8 (Cityscapes, 512x1024, 40k) with attnplug's CCHead: the same model and
# keys (mmseg's checkpoints load), pure PyTorch (no mmcv.ops), exportable to ONNX.
_base_ = ['mmseg::ccnet/ccnet_r50-d8_4xb2-40k_cityscapes-512x1024.py']
model = dict(decode_head=dict(type='attnplug.CCHead'))
