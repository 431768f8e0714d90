"""Feature trajectories of rigid motions seen by a moving camera (motion segmentation)."""

import numbers

import numpy as np
from scipy.spatial.transform import Rotation
from sklearn.utils import check_random_state

from subclust.utils.validation import Interval, validate_params

__all__ = ["make_motion_trajectories"]


@validate_params(
    {
        "n_motions": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_frames": [Interval(numbers.Integral, 2, None, closed="left")],
        "noise": [Interval(numbers.Real, 0, None, closed="left")],
        "object_points": [tuple, list],
        "camera_distance": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_motion_trajectories(n_motions=2, *, n_frames=30, noise=0.5, object_points=(40, 150),
                             camera_distance=None, random_state=None):  # fmt: skip
    """Tracked points of a scene of rigid bodies filmed by a moving camera.

    A synthetic stand-in for the Hopkins 155 motion-segmentation benchmark
    (Tron and Vidal, CVPR 2007): a wide, flat background of 150 to 300
    points and ``n_motions - 1`` objects of 40 to 150 points, each turning
    up to 3 degrees and moving up to 5 pixels per frame, seen by a camera
    that turns up to 2 degrees and moves up to 3 pixels per frame, through
    an orthographic projection, in pixel coordinates centred on 320. Under
    an affine camera the 2F-dimensional trajectories of one rigid body span
    a linear subspace of dimension at most 4 (an affine one of dimension
    3; Tomasi and Kanade, IJCV 9(2), 1992). A body moved with the camera
    alone (the background) and a body that mostly translates share three of
    those dimensions, which makes the problem harder than independent
    subspaces are.

    The sequences of Hopkins 155 depart from this in two ways that can be
    simulated: objects tracked by few points, and the perspective of a
    camera close to the scene, under which the trajectories only lie near
    their subspaces. ``object_points`` sets the range of the objects'
    number of points, and ``camera_distance`` puts a pinhole camera that
    far from the centre of the scene, along its depth axis, with the focal
    length that keeps the scale of that plane: a point at depth ``z`` from
    it is seen ``camera_distance / (camera_distance + z)`` times as far
    from the image centre (the background spans 100 in depth, an object up to
    about 200).

    Parameters
    ----------
    n_motions : int, default=2
        Number of rigid motions: the background and ``n_motions - 1``
        objects.
    n_frames : int, default=30
        Number of frames F.
    noise : float, default=0.5
        Standard deviation of the tracking error, in pixels.
    object_points : tuple of two int, default=(40, 150)
        Least and largest number of points of an object, drawn uniformly.
    camera_distance : float, optional
        Distance of a pinhole camera from the scene's centre; default: an
        orthographic (affine) camera, infinitely far.
    random_state : int, RandomState instance or None, default=None
        Seed of the scene and of the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, 2 * n_frames)
        One trajectory per row: the x coordinates of the F frames, then the
        y coordinates.
    y : ndarray of int of shape (n_samples,)
        The motion of each point, 0 the background.

    Examples
    --------
    >>> import numpy as np
    >>> from subclust.datasets import make_motion_trajectories
    >>> X, y = make_motion_trajectories(3, noise=0, random_state=0)
    >>> X.shape[1], np.unique(y).tolist()
    (60, [0, 1, 2])
    >>> [int(np.linalg.matrix_rank(X[y == k], tol=1e-6)) for k in range(3)]
    [4, 4, 4]
    >>> X, y = make_motion_trajectories(3, noise=0, camera_distance=1000, random_state=0)
    >>> [int(np.linalg.matrix_rank(X[y == k], tol=1e-6)) > 4 for k in range(3)]  # near 4 only
    [True, True, True]
    """
    low, high = _point_range(object_points)
    rng = check_random_state(random_state)
    frames = np.arange(n_frames)

    def rotations(max_degrees):  # turning at a constant rate about a random axis
        axis = rng.standard_normal(3)
        axis *= np.deg2rad(rng.uniform(0, max_degrees)) / np.linalg.norm(axis)
        return Rotation.from_rotvec(np.outer(frames, axis)).as_matrix()

    def translations(max_speed):  # constant velocity and acceleration, little in depth
        velocity = rng.uniform(-max_speed, max_speed, 3) * [1, 1, 0.2]
        acceleration = rng.uniform(-0.1, 0.1, 3)
        return np.outer(frames, velocity) + 0.5 * np.outer(frames**2, acceleration)

    camera_rotation, camera_translation = rotations(2.0), translations(3.0)
    X, y = [], []
    for motion in range(n_motions):
        if motion == 0:  # the background moves with the camera alone
            points = rng.uniform([-300, -300, -50], [300, 300, 50], (rng.randint(150, 301), 3))
            rotation = np.broadcast_to(np.eye(3), (n_frames, 3, 3))
            translation = np.zeros((n_frames, 3))
        else:
            size = rng.uniform(40, 150)
            points = (rng.uniform(-size / 2, size / 2, (rng.randint(low, high + 1), 3))
                      + rng.uniform([-200, -200, -20], [200, 200, 20]))  # fmt: skip
            rotation, translation = rotations(3.0), translations(5.0)
        # Frame f sees R_c(f) (R(f) p + t(f)) + t_c(f), projected on its first two axes.
        world = np.einsum("fij,nj->fni", rotation, points) + translation[:, None]
        seen = np.einsum("fij,fnj->fni", camera_rotation, world) + camera_translation[:, None]
        image = seen[..., :2]
        if camera_distance is not None:
            depth = camera_distance + seen[..., 2:]
            if depth.min() <= 0:
                raise ValueError(
                    f"camera_distance={camera_distance} puts points of the scene behind the "
                    "camera; give a larger one (the scene spans a few hundred in depth)."
                )
            image = image * (camera_distance / depth)
        track = image + noise * rng.standard_normal(image.shape)
        X.append(np.concatenate([track[..., 0].T, track[..., 1].T], axis=1) + 320.0)
        y.append(np.full(len(points), motion))
    return np.vstack(X), np.concatenate(y)


def _point_range(object_points):
    """``(low, high)`` of ``object_points``, checked: one clear message for a bad range."""
    if not (len(object_points) == 2 and all(isinstance(n, numbers.Integral) for n in object_points)
            and 1 <= object_points[0] <= object_points[1]):
        raise ValueError(
            f"object_points must be two integers (least, largest) with 1 <= least <= largest, "
            f"got {object_points!r}."
        )
    return int(object_points[0]), int(object_points[1])
