"""The labelling loop: pick the frames worth labelling next (:mod:`~balldet.labelling.pick`), send a
batch to a labelling tool and bring the labels back as a new dataset (CVAT and Label Studio files,
Label Studio's API). A batch is a folder (:mod:`~balldet.labelling.batch`)."""
