"""Generates the edge-case JPEGs the pipeline-dag tests decode. Run with Pillow: `python3 make_edge.py`."""
from PIL import Image

base = Image.open("../../../../fixtures/images/chelsea_640x480.jpg").convert("RGB")

# A frame with nothing in it: flat mid-grey.
Image.new("RGB", (640, 480), (128, 128, 128)).save("blank_640x480.jpg", quality=75)
# Grayscale (one component).
base.resize((67, 45)).convert("L").save("grayscale_67x45.jpg", quality=80)
# CMYK (four components, Adobe marker).
base.resize((40, 30)).convert("CMYK").save("cmyk_40x30.jpg", quality=80)
# Progressive.
base.resize((96, 72)).save("progressive_96x72.jpg", quality=80, progressive=True)
# One pixel.
Image.new("RGB", (1, 1), (200, 30, 30)).save("tiny_1x1.jpg", quality=90)
# 12 megapixels: the cat scaled up, so there is something to detect.
base.resize((4000, 3000), Image.BILINEAR).save("large_4000x3000.jpg", quality=40)
# Odd size, 4:2:0 chroma with partial MCUs.
base.resize((161, 121)).save("odd_161x121.jpg", quality=80, subsampling=2)
# The page upside down, for the direction classifier.
Image.open("../../../../fixtures/images/page_640x480.jpg").rotate(180).save("page_upside_down_640x480.jpg", quality=90)
