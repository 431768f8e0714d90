"""Features of images chosen by ``auto``: the scattering transform or the pixels.

``subclust bench features`` clusters real image sets as ``subclust cluster``
does by default (``--features auto``: both representations, each through
PCA to at most 500 dimensions, then ``method="auto"`` or ``--method``) and
prints, for each representation, the criterion of the clustering (of
``auto``'s choice, or of the method's partition in its own graph) and its
accuracy, with the representation kept (the larger criterion) beside the
more accurate one.

Faces under many lights lie near one linear subspace per person in pixels
(Basri and Jacobs, "Lambertian reflectance and linear subspaces", TPAMI
25(2), 2003), which the modulus of the scattering transform destroys;
objects and handwritten digits cluster better in scattering features (You,
Li, Robinson and Vidal, CVPR 2016). The rule (the larger criterion, no
parameter) was fixed looking at ``yaleb-few``, ``digits``, ``fashion`` and
``coil20``; the other sets are held out.
"""


from subclust.bench._common import add_names_argument, load_images, parse_names, print_row
from subclust.utils.tables import Table

#: Image sets of :func:`subclust.bench._common.load_images` in the table.
DATASETS = ("yaleb-few", "digits", "fashion", "coil20", "yaleb10", "mnist2000", "yaleb38")
#: The sets the rule was fixed on; the others are held out.
SEEN = ("yaleb-few", "digits", "fashion", "coil20")

DEFAULT_DATASETS = "yaleb-few,digits,fashion,coil20,yaleb10,mnist2000"


def add_arguments(parser):
    add_names_argument(parser, "--datasets", DATASETS, DEFAULT_DATASETS,
                       note="yaleb38 takes minutes")  # fmt: skip
    parser.add_argument("--method", default="auto", help="clustering method (default: auto)")
    parser.add_argument("--seed", type=int, default=0, help="draw of yaleb-few and mnist2000")
    parser.add_argument("--data-home", default=None)


def features_row(name, images, y, *, method="auto", random_state=0):
    """Cluster the images in each representation, as ``subclust cluster`` does; one row."""
    from subclust.cli.workflow import cluster_inputs, image_inputs

    inputs = image_inputs(images, y, source={"dataset": name})
    result = cluster_inputs(inputs, method=method, random_state=random_state)
    row = {"dataset": name, "seen": "yes" if name in SEEN else "no", "n_samples": len(y)}
    for compared in result.features:
        features = compared["features"]
        row[f"criterion_{features}"] = compared["criterion"]
        row[f"acc_{features}"] = compared["metrics"]["accuracy"]
        row[f"choice_{features}"] = compared["selected_method"]
    kept = next(c for c in result.features if c["selected"])
    best = max(result.features, key=lambda c: c["metrics"]["accuracy"])
    row.update(kept=kept["features"], most_accurate=best["features"],
               acc_kept=result.metrics["accuracy"], seconds=result.seconds)  # fmt: skip
    return row


def features_table(datasets=DEFAULT_DATASETS.split(","), *, method="auto", random_state=0,
                   data_home=None):  # fmt: skip
    """:func:`features_row` for every data set."""
    table = Table(title=f"features of images kept by auto's criterion ({method}): scattering "
                        "or pixels")  # fmt: skip
    for name in datasets:
        images, y = load_images(name, random_state=random_state, data_home=data_home)
        row = features_row(name, images, y, method=method, random_state=random_state)
        table.add_row(**row)
        print_row(row)
    table.notes += [
        "criterion_*: auto's criterion of its choice (choice_*) on those features, or of the "
        "method's partition in its own graph; acc_*: its accuracy; both on the samples "
        "compared (at most auto's budget, 2000); kept: the larger criterion; acc_kept: the "
        "kept features' accuracy, fitted on all samples.",
        f"rule fixed on {', '.join(SEEN)}; the other sets are held out.",
    ]
    return table


def main(args):
    names = parse_names(args.datasets, DATASETS, "--datasets")
    from subclust.pipeline import make_estimator

    make_estimator(args.method)  # an unknown method fails before any data is read
    print(features_table(names, method=args.method, random_state=args.seed,
                         data_home=args.data_home))  # fmt: skip
