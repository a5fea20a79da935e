"""The credit ledger: reserve, settle, refund and grant, each atomic.

Every change to ``User.credit_balance`` goes through here and appends a
``CreditTransaction``. The user row is locked (``select_for_update``) and the
balance is changed with a conditional UPDATE, so concurrent reservations can
never take the balance below zero (a database CHECK constraint backs this up).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Sum

from accounts.models import CreditTransaction, TransactionKind, User
from config.errors import InsufficientCredits


def lock(user_id: int) -> None:
    """Lock the user's row until the end of the transaction: balance changes, and any rule that counts what
    the user has under way before adding to it, are serialised per user."""
    User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).first()


def _apply(user_id: int, amount: int, kind: str, reference: str, note: str) -> CreditTransaction:
    with transaction.atomic():
        lock(user_id)
        qs = User.objects.filter(pk=user_id)
        if amount < 0:
            qs = qs.filter(credit_balance__gte=-amount)
        if qs.update(credit_balance=F("credit_balance") + amount) != 1:
            balance = User.objects.filter(pk=user_id).values_list("credit_balance", flat=True).first()
            raise InsufficientCredits(
                f"Not enough credits: {-amount} needed, {balance or 0} available",
                details={"required": -amount, "available": balance or 0},
            )
        balance = User.objects.filter(pk=user_id).values_list("credit_balance", flat=True).get()
        return CreditTransaction.objects.create(
            user_id=user_id, kind=kind, amount=amount, balance_after=balance, reference=reference, note=note
        )


def grant(user: User, amount: int, note: str = "", reference: str = "") -> CreditTransaction:
    if amount <= 0:
        raise ValueError("a grant must be positive")
    return _apply(user.pk, amount, TransactionKind.GRANT, reference, note)


def reserve(user: User, amount: int, reference: str, note: str = "") -> CreditTransaction | None:
    """Take ``amount`` credits for ``reference`` (a run). Raises InsufficientCredits."""
    if amount <= 0:
        return None
    return _apply(user.pk, -amount, TransactionKind.RESERVE, reference, note)


def outstanding(user: User, reference: str) -> int:
    """Credits reserved for ``reference`` and not yet returned (zero once it is settled)."""
    settled = CreditTransaction.objects.filter(user=user, reference=reference, kind=TransactionKind.SETTLE)
    if settled.exists():
        return 0
    total = (
        CreditTransaction.objects.filter(user=user, reference=reference).aggregate(s=Sum("amount"))["s"] or 0
    )
    return max(0, -total)


def refund(user: User, amount: int, reference: str, note: str = "") -> CreditTransaction | None:
    """Return up to ``amount`` of what ``reference`` still holds."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        amount = min(amount, outstanding(user, reference))
        if amount <= 0:
            return None
        return _apply(user.pk, amount, TransactionKind.REFUND, reference, note)


def settle(user: User, reference: str, used: int, note: str = "") -> int:
    """Keep ``used`` credits of the reservation and return the rest. Returns the amount returned."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        back = max(0, outstanding(user, reference) - max(used, 0))
        # Always written, even for zero: the settle entry closes the reservation.
        _apply(user.pk, back, TransactionKind.SETTLE, reference, note or f"{used} used, {back} returned")
        return back
