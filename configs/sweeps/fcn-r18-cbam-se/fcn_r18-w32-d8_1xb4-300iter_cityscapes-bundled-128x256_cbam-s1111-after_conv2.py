# sweep point: CBAM in stages 1111, position=after_conv2 (written by tools/sweep.py)
_base_ = ['../../fcn/fcn_r18-w32-d8_1xb4-300iter_cityscapes-bundled-128x256.py']
model = {'backbone': {'type': 'attnplug.ResNetV1c',
              'plugins': [{'cfg': {'type': 'attnplug.CBAM'},
                           'stages': (True, True, True, True),
                           'position': 'after_conv2'}]}}
