"""The pending queue: batches cut by work, put-back items first, failed items to other nodes."""

from __future__ import annotations

import pytest

from witengine.scheduling.queue import WorkQueue

WORK = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_a_batch_is_the_next_items_worth_at_most_the_target() -> None:
    queue = WorkQueue(range(6), WORK)
    assert queue.take(6.5, "node_a", {}) == ([0, 1, 2], 6.0)
    assert queue.work == pytest.approx(15.0)
    assert queue.take(0.1, "node_a", {}) == ([3], 4.0)  # at least one item
    assert queue.take(100.0, "node_a", {}, limit=1) == ([4], 5.0)
    assert len(queue) == 1


def test_put_back_items_go_out_next_in_their_order() -> None:
    queue = WorkQueue(range(6), WORK)
    assert queue.take(10.0, "node_a", {}) == ([0, 1, 2, 3], 10.0)
    queue.put_back([2, 3])
    assert list(queue) == [2, 3, 4, 5]
    assert queue.take(9.0, "node_b", {}) == ([2, 3], 7.0)
    assert queue.take(5.0, "node_b", {}) == ([4], 5.0)


def test_a_batch_continues_past_put_back_items_up_to_the_target() -> None:
    queue = WorkQueue(range(6), WORK)
    queue.take(3.0, "node_a", {})
    queue.put_back([0])
    assert queue.take(6.0, "node_a", {}) == ([0, 2], 4.0)


def test_failed_items_go_first_to_nodes_that_have_not_failed_them() -> None:
    queue = WorkQueue(range(6), WORK)
    queue.take(1.0, "node_a", {})
    queue.retry(0)
    failed_on = {0: {"node_a"}}
    assert queue.take(2.0, "node_a", failed_on) == ([1], 2.0)
    assert queue.take(1.0, "node_b", failed_on) == ([0], 1.0)


def test_a_node_gets_an_item_it_failed_when_nothing_else_is_left() -> None:
    queue = WorkQueue([0], WORK)
    queue.take(1.0, "node_a", {})
    queue.retry(0)
    assert queue.take(1.0, "node_a", {0: {"node_a"}}) == ([0], 1.0)
    assert not queue
    assert queue.work == 0.0


def test_a_batch_never_holds_more_work_than_the_cap_and_may_hold_none() -> None:
    queue = WorkQueue(range(6), WORK)
    assert queue.take(100.0, "node_a", {}, cap=6.5) == ([0, 1, 2], 6.0)
    assert queue.take(0.1, "node_a", {}, cap=3.9) == ([], 0.0)  # the next item needs 4
    queue.put_back([1])
    queue.retry(0)
    assert queue.take(0.1, "node_a", {}, cap=1.5) == ([0], 1.0)
    assert queue.take(0.1, "node_a", {}, cap=1.5) == ([], 0.0)
    assert queue.take(10.0, "node_a", {}, cap=6.0) == ([1, 3], 6.0)
    assert queue.work == pytest.approx(11.0)


def test_a_capped_batch_takes_the_smallest_items_when_the_next_does_not_fit() -> None:
    queue = WorkQueue([5, 4, 3, 2, 1, 0], WORK)  # largest first
    assert queue.take(10.0, "node_a", {}, cap=3.5) == ([0, 1], 3.0)
    assert list(queue) == [5, 4, 3, 2]
    assert queue.take(10.0, "node_a", {}, cap=2.0) == ([], 0.0)
    assert queue.take(6.0, "node_a", {}) == ([5], 6.0)
    assert queue.work == pytest.approx(12.0)
