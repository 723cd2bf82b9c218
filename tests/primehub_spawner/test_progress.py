"""Progress messages and fail-fast reasons."""

from primehub_spawner.progress import describe_event, fatal_reason


def event(reason, message):
    return {"reason": reason, "message": message, "type": "Warning"}


GPU_MSG = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."


def test_descriptions():
    assert describe_event(event("FailedScheduling", GPU_MSG)).startswith(
        "Waiting for a GPU node..."
    )
    assert describe_event(event("Scheduled", "Successfully assigned ns/p to node-1")) == (
        "Assigned to node node-1"
    )
    assert describe_event(event("Pulling", 'Pulling image "x"')).startswith("Pulling image...")
    assert describe_event(event("Started", "Started container notebook")) == (
        "Starting the notebook server..."
    )
    assert (
        describe_event(
            event(
                "FailedScheduling",
                "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
            )
        )
        == "Waiting for storage to be ready..."
    )


def test_unschedulable_gpu_is_fatal():
    assert fatal_reason([event("FailedScheduling", GPU_MSG)], None) == (
        f"The server cannot be scheduled: {GPU_MSG}"
    )
    selector = "0/1 nodes are available: 1 node(s) didn't match node selector."
    assert "didn't match node selector" in fatal_reason([event("FailedScheduling", selector)], None)


def test_waiting_for_volumes_is_not_fatal():
    msg = "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."
    assert fatal_reason([event("FailedScheduling", msg)], None) is None
    assert fatal_reason([event("Scheduled", "ok")], {"status": {"phase": "Pending"}}) is None


def test_image_pull_errors_are_fatal():
    pod = {
        "status": {
            "containerStatuses": [
                {
                    "name": "notebook",
                    "image": "nope:1",
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "nope:1"',
                        }
                    },
                }
            ]
        }
    }
    assert (
        fatal_reason([], pod)
        == 'Cannot pull image (ImagePullBackOff): Back-off pulling image "nope:1"'
    )
    assert fatal_reason([event("Failed", "Failed to pull image: ErrImagePull")], None).startswith(
        "Cannot pull image"
    )


def test_failed_pull_names_the_image_from_the_kubelets_first_event():
    # what a real kubelet (containerd node) posts, in this order
    pull = (
        'Failed to pull image "localhost/gone:1": rpc error: code = Unknown desc = failed to '
        'pull and unpack image "localhost/gone:1": failed to resolve reference "localhost/gone:1"'
    )
    events = [
        event("Pulling", 'Pulling image "localhost/gone:1"'),
        event("Failed", pull),
        event("Failed", "Error: ErrImagePull"),
    ]
    assert fatal_reason(events, None) == f"Cannot pull image (ErrImagePull): {pull}"
    # the pull message alone is not (yet) a verdict: the kubelet may retry
    assert fatal_reason(events[:2], None) is None


def test_unschedulable_condition_on_the_pod_is_fatal():
    pod = {
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": GPU_MSG,
                }
            ],
        }
    }
    assert fatal_reason([], pod) == f"The server cannot be scheduled: {GPU_MSG}"
    pvc_wait = "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims."
    pod["status"]["conditions"][0]["message"] = pvc_wait
    assert fatal_reason([], pod) is None
