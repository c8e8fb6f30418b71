import { STATUS_LABELS } from '../format';

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge status-${status}`}>
      {STATUS_LABELS[status as keyof typeof STATUS_LABELS] ?? status}
    </span>
  );
}
