# DeepLabV3 with a dilated MobileNetV2 on Cityscapes (mmseg's recipe), starting from the
# coordinate-attention authors' ImageNet MobileNetV2 + CA (mbv2_ca.pth,
# github.com/houqb/CoordAttention), converted with
#   python tools/model_converters/coordatt2attnplug.py mbv2_ca.pth \
#       checkpoints/mbv2-ca_in1k_attnplug.pth
# CA sits after the depthwise conv of every expanding inverted-residual block (all but the
# first), as in mbv2_ca.py; mmseg's MobileNetV2 has no slot there, so attnplug.WithPlugins puts
# it after each block's conv.1 (the depthwise ConvModule). The CA paper reports DeepLabV3 on
# Cityscapes with this backbone. See docs/pretrained.md.
_base_ = ['mmseg::mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb2-80k_cityscapes-512x1024.py']
model = dict(
    pretrained=None,
    backbone=dict(
        type='attnplug.WithPlugins', wraps='MobileNetV2',
        plugins=[dict(cfg=dict(type='attnplug.CoordAttention'), after='layer[2-7].*.conv.1')],
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/mbv2-ca_in1k_attnplug.pth')))
