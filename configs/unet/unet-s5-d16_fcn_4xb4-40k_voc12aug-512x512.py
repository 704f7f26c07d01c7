# UNet-S5-D16 + FCN on PASCAL VOC 2012 + SBD (aug), 512x512: mmseg ships no UNet VOC config, so
# this combines mmseg's UNet model base with the dataset, runtime and 40k schedule of mmseg's
# fcn_r50-d8_4xb4-40k_voc12aug-512x512. The baseline of the attention_unet VOC config.
_base_ = [
    'mmseg::_base_/models/fcn_unet_s5-d16.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
custom_imports = dict(imports=['attnplug'], allow_failed_imports=False)  # safe checkpoint loading
crop_size = (512, 512)
# VOC images are resized to a 512 short side with any long side: pad them at test time to the
# UNet's whole downsample rate (16), which mmseg's UNet requires; the padding is cropped off
# the prediction again.
data_preprocessor = dict(size=crop_size, test_cfg=dict(size_divisor=16))
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=21),
    auxiliary_head=dict(num_classes=21),
    test_cfg=dict(mode='whole'))
