"""What the authors' post-processing (`--postprocess=paper`) does to the metrics of one model.

    python bench/postprocess_paper_osie.py --model=RUN_DIR_OR_WEIGHTS \
        --data='/path/records/osie_test/*.tfrecord' [--max_images=100]

Scores the same predictor twice on the same images: maps resized back as this project does by
default (antialiased bilinear) and as the authors' predict did (cubic + cv2.GaussianBlur((5, 5),
0), salgan_tf.postprocess). Prints the evaluate table (MIT metric conventions).
"""
import argparse
import functools

from salgan_tf import evaluate_lib
from salgan_tf import inference
from salgan_tf import map_sources
from salgan_tf.data import eval_examples


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--max_images", type=int, default=None)
    args = parser.parse_args()
    sources = {}
    for name in ("none", "paper"):
        predictor = inference.load_predictor(args.model, postprocess=name)
        sources[f"postprocess={name}"] = map_sources.predictor_source(predictor)
    examples = functools.partial(eval_examples.read_tfrecord_examples, args.data,
                                 limit=args.max_images)
    _, _, table = evaluate_lib.run(examples, sources, config=evaluate_lib.EvalConfig())
    print(f"model {args.model}, data {args.data}")
    print(table)


if __name__ == "__main__":
    main()
