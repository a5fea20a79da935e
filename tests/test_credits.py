"""The credit ledger: reserve/settle/refund are atomic and the balance never goes negative."""

import threading

import pytest
from django.db import close_old_connections, connection

from accounts import credits
from accounts.models import CreditTransaction
from config.errors import InsufficientCredits


@pytest.mark.django_db
def test_reserve_settle_refund_round_trip(make_user):
    user = make_user(credits_amount=100)
    credits.reserve(user, 30, "run_1")
    user.refresh_from_db()
    assert user.credit_balance == 70
    assert credits.settle(user, "run_1", used=10) == 20
    user.refresh_from_db()
    assert user.credit_balance == 90
    # nothing left to refund for run_1
    assert credits.refund(user, 50, "run_1") is None
    credits.reserve(user, 40, "run_2")
    credits.refund(user, 100, "run_2")  # capped at what run_2 holds
    user.refresh_from_db()
    assert user.credit_balance == 90
    kinds = list(CreditTransaction.objects.filter(user=user).order_by("id").values_list("kind", "amount"))
    assert kinds == [("grant", 100), ("reserve", -30), ("settle", 20), ("reserve", -40), ("refund", 40)]
    assert all(t.balance_after >= 0 for t in CreditTransaction.objects.all())


@pytest.mark.django_db
def test_insufficient_credits(make_user):
    user = make_user(credits_amount=5)
    with pytest.raises(InsufficientCredits) as info:
        credits.reserve(user, 6, "run_x")
    assert info.value.status == 402
    user.refresh_from_db()
    assert user.credit_balance == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_overdraw(make_user):
    """20 threads each reserve 10 credits against a balance of 95: exactly 9 succeed."""
    user = make_user(credits_amount=95)
    results: list[str] = []
    barrier = threading.Barrier(20)

    def worker(i: int) -> None:
        close_old_connections()
        try:
            barrier.wait()
            credits.reserve(user, 10, f"run_c{i}")
            results.append("ok")
        except InsufficientCredits:
            results.append("402")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    user.refresh_from_db()
    assert results.count("ok") == 9 and results.count("402") == 11
    assert user.credit_balance == 5
    ledger_total = sum(CreditTransaction.objects.filter(user=user).values_list("amount", flat=True))
    assert ledger_total == user.credit_balance
