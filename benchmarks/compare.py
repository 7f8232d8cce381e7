from fastnn.bench import main  # the `fastnn bench` table: python benchmarks/compare.py --quick

if __name__ == "__main__":  # guarded: asv imports every module under benchmarks/
    raise SystemExit(main())
